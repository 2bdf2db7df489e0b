"""Intake: SMTP/LMTP listeners, IMAP polling, the pipe fast path; each stores into the durable inbox, nothing more."""
