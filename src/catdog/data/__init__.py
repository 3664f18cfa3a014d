"""Where photos come from (parquet, folders, hf://) and how bytes become pixels."""
