"""The gRPC front end: services (``server``), tensor protos (``tensor_proto``), the
profiler service (``profiler_service``), TLS credentials (``tls``) and health (``health``)."""
