"""The Slack channel: questions by mention, DM and `/erp`; approvals with buttons; Slack users linked to ERP users."""

from assistant.channels.slack.bot import SlackBot, SlackConfig, slack_config

__all__ = ["SlackBot", "SlackConfig", "slack_config"]
