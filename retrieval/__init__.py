"""Knowledge only: FAQs and documents in SQL, their embeddings, and hybrid search (FAISS dense + BM25)."""
