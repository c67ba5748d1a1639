"""Time-based work: APScheduler jobs for deadline reminders and scheduled broadcasts.

Nothing is scheduled yet; the admission-calendar issue brings the jobs and their persistent
job store (in the same database as everything else)."""
