"""`GET /api/deliveries/{id}`: one accepted request with every execution the caller may see."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Path

from octipus.api.deps import SessionDep, UserDep
from octipus.api.errors import ApiError
from octipus.api.execution_filters import visible
from octipus.api.execution_models import OneDelivery
from octipus.api.executions import execution_json
from octipus.api.responses import StoredJSONResponse
from octipus.db.tables import Delivery, Execution, Hook

router = APIRouter(tags=["executions"])

# Our ids are 32 hex characters; the pattern keeps /api/deliveries/stream (and any other word)
# out of this route.
DeliveryPk = Path(pattern="^[0-9a-f]{32}$", description="Our delivery id (deliveryPk)")


@router.get("/api/deliveries/{delivery_pk}", response_model=OneDelivery)
async def get_delivery(
    user: UserDep, session: SessionDep, delivery_pk: str = DeliveryPk
) -> StoredJSONResponse:
    """The delivery, with its executions oldest first; 404 when the caller may see none."""
    rows = (
        await session.execute(
            visible(sa.select(Execution, Hook.name).join(Hook, Hook.id == Execution.hook_id), user)
            .where(Execution.delivery_pk == delivery_pk)
            .order_by(Execution.created_at, Execution.id)
        )
    ).all()
    delivery = await session.get(Delivery, delivery_pk) if rows else None
    if delivery is None:
        raise ApiError(404, f"Delivery {delivery_pk} not found")
    pruned = delivery.body_pruned_at is not None
    return StoredJSONResponse(
        {
            "delivery": {
                "id": delivery.id,
                "deliveryId": delivery.delivery_id,
                "path": delivery.path,
                "eventType": delivery.event_type,
                "method": delivery.method,
                "contentType": delivery.content_type,
                "headers": delivery.headers,
                "body": None if pruned else delivery.body.decode("utf-8", errors="replace"),
                "receivedAt": delivery.received_at.isoformat(),
                "executions": [execution_json(e, name, delivery) for e, name in rows],
            }
        }
    )
