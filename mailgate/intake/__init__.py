"""Receivers (SMTP/LMTP, later IMAP) and the single door they all store mail through."""
