"""What inbound and outbound mail share about trust: signed reply addresses, their secret, DKIM results."""
