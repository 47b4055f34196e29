"""Services that plug streamcore into what users already run: a detector speaking Frigate's ZMQ
protocol (``zmq_detector``), Prometheus metrics (``metrics``) and MQTT results (``mqtt``)."""
