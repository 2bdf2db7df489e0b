"""Reports (SPEC section 12): the figures of a period read from what the ticket logic recorded
(``maildesk.tickets.figures``), in JSON, CSV, a table or one HTML page, and mailed on a schedule."""
