"""The HTTP/REST front end: libevent's framing on httptools (``http_server``) and the
``/v1`` endpoints, which parse the URL and delegate to the dispatch layer (``endpoints``)."""
