"""One router per resource: health (and /metrics), models, scoring, admin."""
