"""Intake: SMTP/LMTP listeners, IMAP polling, the pipe fast path; each only stores in the durable inbox."""
