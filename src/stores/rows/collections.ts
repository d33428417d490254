// A collections row (its owner), for every backend.

export interface CollectionRow {
  id: string;
  org_id: string | null;
  created_at: number;
}
