"""The multi-session benchmark: experiments, the user simulator, sessions, their records, the runner and judging."""
