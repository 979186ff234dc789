"""Reach: delivering the outbox to webhooks and MQTT brokers (real protocol clients), and escalating red
flags nobody acknowledged. Fed only from the database's outbox (``vigil.domain.outbox``)."""
