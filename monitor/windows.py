"""Which components are under maintenance now: in a window of the config's calendar
(maintenance.py), or in one the status page shows (read by publishing.PageMaintenance).

A component in maintenance is judged under_maintenance whatever its checks say, and no incident
is opened for it (docs/status-rules.md). The calendar's description wins over the page's.
"""

from __future__ import annotations

from monitor.maintenance import MaintenanceCalendar

PAGE_MAINTENANCE = "scheduled maintenance on the status page"


class Windows:
    def __init__(self, calendar: MaintenanceCalendar) -> None:
        self.calendar = calendar
        self.page: set[str] = set()  # components under maintenance on the page, last we read

    def active(self, component: str, now: float) -> str | None:
        """The description of the window `component` is in at `now`, or None."""
        window = self.calendar.active(component, now)
        if window is None and component in self.page:
            return PAGE_MAINTENANCE
        return window

    def read_page(self, components: set[str]) -> bool:
        """Take a reading of the page's maintenance; whether it changed anything."""
        changed = components != self.page
        self.page = components
        return changed
