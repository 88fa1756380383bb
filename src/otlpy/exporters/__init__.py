"""Built-in exporters: send pipeline data somewhere (another collector over OTLP, a file, ...).

Each module defines a config dataclass, the exporter, and a ``factory`` registered under the
``otlpy.components`` entry-point group. Exporters are built with
:class:`otlpy.exporterhelper.Exporter`: each one only writes ``push(batch)``.
"""
