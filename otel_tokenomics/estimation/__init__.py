"""Token estimates: for calls whose provider reported no usage, and before a call (pre-flight)."""
