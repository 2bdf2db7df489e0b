"""Outgoing mail: who is told what (plan), templates, MIME composition, drafting into the outbox, transports."""
