"""Serializers per resource; each module is what one group of endpoints reads and writes."""
