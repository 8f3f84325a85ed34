"""The server binary: ``tensorflow_serving/model_servers``.

Start-up and shut-down (``server``), the flags and their specs (``flags``,
``flag_specs``), the one dispatch layer both front ends call (``dispatch``) and the
metrics they record (``metrics``).
"""
