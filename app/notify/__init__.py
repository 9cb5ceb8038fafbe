"""Alert notifications to ``MONITORING_WEBHOOK_URL``.

Each alert that fires or resolves is POSTed as one JSON object (``events.event``): ``event``
(``alert.fired`` | ``alert.resolved`` | ``webhook.test``), ``delivery_id``, ``sent_at``, ``service``,
``environment``, ``instance``, ``summary`` and the ``alert`` record. Headers: ``X-Webhook-Event``,
``X-Webhook-Delivery`` (the same id on every retry, for de-duplication), ``X-Webhook-Attempt`` and,
when ``MONITORING_WEBHOOK_SECRET`` is set, ``X-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``
(``signing.verify`` is how a receiver checks it). Maintenance mode silences them; recording goes on.
"""

from app.notify.events import event
from app.notify.signing import sign, verify
from app.notify.webhook import Delivery, WebhookNotifier

__all__ = ["Delivery", "WebhookNotifier", "event", "sign", "verify"]
