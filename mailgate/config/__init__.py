"""Typed configuration: ``mailgate.toml`` → frozen dataclasses (``model``), loaded and validated
once at start-up (``loading``), then passed explicitly."""

from mailgate.config.loading import load_config
from mailgate.config.model import (
    Config,
    DepartmentConfig,
    FieldConfig,
    GatewayConfig,
    ImapConfig,
    MailboxConfig,
    PoolConfig,
    QuestionConfig,
    ReportConfig,
    SmtpInConfig,
    SmtpOutConfig,
    WebConfig,
    WebFormConfig,
    parse_duration,
    parse_size,
)

__all__ = [
    "Config", "DepartmentConfig", "FieldConfig", "GatewayConfig", "ImapConfig", "MailboxConfig",
    "PoolConfig", "QuestionConfig", "ReportConfig", "SmtpInConfig", "SmtpOutConfig", "WebConfig",
    "WebFormConfig",
    "load_config", "parse_duration", "parse_size",
]
