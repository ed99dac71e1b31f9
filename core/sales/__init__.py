"""Sales orders: pricing, confirmation (reservation), shipment, invoicing, cancellation."""
