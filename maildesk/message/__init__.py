"""One message read: parsing, MIME repair, delivery reports, automation detection, the Message-ID ledger."""
