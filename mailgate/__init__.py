"""mailgate: an email-gateway helpdesk daemon with a mailer-first workflow."""

__version__ = "0.1.0"
