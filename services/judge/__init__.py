"""The judge service: task success, preference compliance, conflicts and over-personalization."""
