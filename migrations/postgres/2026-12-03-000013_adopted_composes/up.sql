-- The highest compose id a reference ODCS deployment left when this one adopted its database
-- (`odcs-server migrate`); NULL for a store this deployment created. Those composes'
-- directories carry no marker of ours and are still this deployment's to delete.
ALTER TABLE deployment ADD COLUMN adopted_up_to BIGINT;
