// The chatbot store contract: what a chatbot answers from and how (issue 6 adds owners, auth and limits).

/** The chatbot every install has, answering from the collection of the same name. */
export const DEFAULT_CHATBOT_ID = 'default';

export interface GlossaryTerm {
  term: string;
  /** Given to the model when the term appears in the question. */
  definition: string;
  /** Other words users say for the term; a question using one is expanded with the term itself. */
  synonyms?: string[];
}

export interface Chatbot {
  id: string;
  name: string;
  /** Which document collection retrieval searches. */
  collectionId: string;
  systemPrompt: string | null;
  temperature: number | null;
  maxTokens: number | null;
  glossary: GlossaryTerm[];
  createdAt: number;
  updatedAt: number;
}

export type ChatbotInput = Omit<Chatbot, 'createdAt' | 'updatedAt'>;

export interface ChatbotStore {
  getChatbot(id: string): Promise<Chatbot | undefined>;
  listChatbots(): Promise<Chatbot[]>;
  /** Creates or replaces the chatbot with this id; its cached answers are forgotten (they rest on the old settings). */
  putChatbot(input: ChatbotInput): Promise<Chatbot>;
  deleteChatbot(id: string): Promise<boolean>;
}
