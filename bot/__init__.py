"""Wiring and storage: settings, app factory, middlewares, database, i18n, run modes."""

from bot.telegram_types import load_aiogram

# First, before anything imports aiogram: its Telegram types are then built on first use,
# which keeps ~100 MB out of every process (see bot/telegram_types.py).
load_aiogram()
