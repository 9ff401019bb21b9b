-- Lojas Horizonte: customers more than 60 days overdue get a renegotiation offer valid for 5 days.
SELECT phone, full_name, debt_amount,
       current_date - due_date AS days_overdue,
       current_date + 5 AS offer_until
  FROM partner_customers
 WHERE partner = 'Lojas Horizonte'
   AND status = 'ativo'
   AND opt_in
   AND current_date - due_date > 60
 ORDER BY id
