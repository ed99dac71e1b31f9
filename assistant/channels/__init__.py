"""The channels people use: the web (API, widget, inbox), Slack and the terminal."""
