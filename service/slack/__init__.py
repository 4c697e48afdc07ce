"""citeqa Slack adapter (slack-bolt)."""
