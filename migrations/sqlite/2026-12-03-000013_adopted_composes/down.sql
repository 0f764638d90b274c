ALTER TABLE deployment DROP COLUMN adopted_up_to;
