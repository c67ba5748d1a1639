"""Domain rules and data about Kazakhstan admission. Pure Python: nothing here imports Telegram."""
