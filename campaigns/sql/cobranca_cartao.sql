-- Banco Aurora card collections: active customers 5 to 90 days overdue, with consent to be called.
SELECT phone, phone_alt, full_name, cpf, debt_amount, due_date, city, uf
  FROM partner_customers
 WHERE partner = 'Banco Aurora'
   AND status = 'ativo'
   AND opt_in
   AND current_date - due_date BETWEEN 5 AND 90
 ORDER BY debt_amount DESC, id
