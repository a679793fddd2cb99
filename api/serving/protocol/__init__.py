"""The V2 gRPC protocol: ``grpc_service.proto`` and its generated modules
(``grpc_service_pb2``, ``grpc_service_pb2_grpc``; regenerate with
``python -m api.serving.protocol``)."""
