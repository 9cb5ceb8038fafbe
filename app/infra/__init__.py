"""Infrastructure the domain reaches through: Redis access (``app.infra.redis``), used by the cache,
the alert store and maintenance mode alike."""
