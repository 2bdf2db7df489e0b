"""Outgoing mail: who is told what (plan), templates, MIME composition, drafts in the outbox, transports."""
