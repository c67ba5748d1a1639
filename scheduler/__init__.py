"""Time-based work: deadline reminders (planning, firing, the APScheduler job store and its
leader lock) and calendar import/export. Scheduled broadcasts are kept by the delivery engine
(a campaign's `scheduled_for`), so they need no job of their own."""
