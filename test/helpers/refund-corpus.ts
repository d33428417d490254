// Two small Markdown documents the RAG tests upload: a refund policy with two sections and a shipping note.

export const REFUNDS = `# Refund policy

## Timing

Refunds are issued within 14 days after the returned parcel reaches our warehouse in Lyon.

## Exceptions

Gift cards and opened software cannot be refunded.`;

export const SHIPPING = `# Shipping

Orders above 50 euros ship free of charge. Standard delivery takes three to five working days.`;
