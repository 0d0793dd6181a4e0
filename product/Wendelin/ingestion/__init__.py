"""Ingestion: fluentd-style posts appended to Data Streams through Ingestion Policies."""
