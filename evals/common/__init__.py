"""What every eval suite shares: the demo company, the web client and its SSE, tables and results, fakes."""
