"""Ticket transitions: which ticket a message belongs to, what it changes, technician commands, clocks."""
