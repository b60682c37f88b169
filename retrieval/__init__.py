"""The knowledge base: FAQ storage, embeddings and the FAISS index that finds the right answer."""
