"""hotel-ingest: partner catalogs in, deduplicated and rendered hotel images out.

Partners send catalogs in their own formats; ``hotel_ingest.adapters`` reads CSV, JSON Lines and
XML feeds into imgpipe's catalog (partner_hotel_id, hotel_group_id, image_url, caption), and
``hotel-ingest run`` hands them to ``imgpipe run`` for the whole pipeline.
"""

__version__ = "0.1.0"
