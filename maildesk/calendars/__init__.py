"""Business calendars: opening hours, days off and time zones, and business-time arithmetic.

The API that clocks and reports use (see ``business.Calendar``)::

    calendar = calendars.get("office")                 # or ALWAYS, the built-in 24/7 calendar
    due = calendar.add_business_time(start, 4 * 3600)  # the instant 4 business hours after ``start``
    spent = calendar.business_seconds_between(a, b)    # business seconds in [a, b)

Instants are timezone-aware datetimes; results are UTC. ``read_calendar``
builds a calendar from its ``[calendars.NAME]`` table and reports each
mistake by key, for ``FILE:LINE: key`` errors.
"""

from maildesk.calendars.business import ALWAYS, AlwaysCalendar, BusinessCalendar, Calendar
from maildesk.calendars.days_off import DaysOff, check_country
from maildesk.calendars.hours import DAY_NAMES, WeeklyHours, parse_interval
from maildesk.calendars.spec import CALENDAR_KEYS, CalendarProblem, Calendars, read_calendar

__all__ = [
    "ALWAYS",
    "CALENDAR_KEYS",
    "DAY_NAMES",
    "AlwaysCalendar",
    "BusinessCalendar",
    "Calendar",
    "CalendarProblem",
    "Calendars",
    "DaysOff",
    "WeeklyHours",
    "check_country",
    "parse_interval",
    "read_calendar",
]
