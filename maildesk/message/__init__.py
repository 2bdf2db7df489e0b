"""Reading one message: parsing, MIME repair, delivery reports, automation detection, the Message-ID ledger."""
