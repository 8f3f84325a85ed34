"""TF Serving's JSON API (``json_tensor.cc``) and the RapidJSON it is built on.

Request parsing, response writing, number text, RapidJSON's reader and writer, and
the fast path for plain bodies.
"""
