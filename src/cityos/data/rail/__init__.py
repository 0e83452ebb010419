"""The data high-speed rail (数据高铁): ordered change logs of the base databases, read by
approved subscribers with a cursor, pushed to their webhooks, and synced into district
warehouses by `cityos rail sync`."""
