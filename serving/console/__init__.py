"""The officer console served under ``/console`` by the scoring service (docs/console.md)."""
